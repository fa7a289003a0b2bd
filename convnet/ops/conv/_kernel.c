/* convnet.ops.conv._kernel: the 2-D convolution kernel of the CPU backends,
 * compiled when convnet is installed, so that no process compiles it at run
 * time (Numba took 20-30 s for it, once per machine).
 *
 * One entry point per dtype, convnet_conv2d_float and convnet_conv2d_double
 * (conv2d.h), computes the three Ops, Conv, ConvGradWeights and
 * ConvGradInputs, for the problem described by an int64 array laid out as
 * problem_t.  Python calls it through run() (convnet's CPU linker, without
 * the GIL); Numba code calls it at the address that address() gives
 * (PyTensor's Numba linker).
 *
 * Two algorithms, chosen from the shapes at run time:
 *
 * im2col + GEMM, over blocks of output pixels.  For a block of n output
 * pixels, columns (K x n, K = channels * filter rows * filter columns) holds
 * the input pixel each filter tap sees at each of them, and
 *   Conv:            output block (O x n)  = W (O x K) @ columns
 *   ConvGradWeights: filter grad  (O x K) += output_grad block (O x n) @ columns.T
 *   ConvGradInputs:  columns = W.T @ output_grad block, then col2im adds
 *                    columns back into the input gradient.
 * A block is a run of output rows of one image, or several whole images when
 * images are small, sized so that columns holds about BLOCK_ELEMENTS numbers
 * (2 MB in float32), which stays in the caches.
 *
 * Direct, channels-last, for batches of small images with many channels (the
 * second layer of the MNIST ConvNet).  For a chunk of m images copied
 * channels-last (m x H x W x C), the pixels that filter row p sees at output
 * pixel (i, j) through a run of filter columns [q, q + run) are, for every
 * image, one contiguous run of run * C numbers, one image apart.  With the
 * filters laid out channels-last (HWIO: (p, q, channel) rows x O columns),
 *   Conv:            products[pixel] (m x O) += image run (m x run*C) @ filter rows
 *   ConvGradWeights: filter rows (run*C x O) += image run.T @ products[pixel]
 * where products holds the output (or its gradient) of the chunk pixel by
 * pixel.  BLAS reads the runs in place, so nothing is copied but the two
 * layout changes per chunk, and taps in the padding are skipped.
 * ConvGradInputs uses it as the convolution of the padded output gradient
 * where the stride is 1 (transposed_problem).
 *
 * The blocks (or chunks) are shared among workers, as many as BLAS may use
 * threads (OPENBLAS_NUM_THREADS or threadpoolctl set that) and at most the
 * number configure() was given, each with its own buffers and
 * single-threaded GEMMs: this parallelizes the copies along with the GEMMs,
 * and avoids BLAS's own threads synchronizing on every small product.
 * Workers take whole images (tasks) in turn, so the col2im of different
 * workers never adds into the same pixels.  While several run, OpenBLAS is
 * set to one thread (its thread count is global) and set back afterwards.
 * With another BLAS, or a single task, one worker runs and BLAS decides the
 * parallelism.  The GEMMs are those of SciPy's cython_blas, the BLAS NumPy
 * and Numba use.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Target size of the im2col buffer of one block, in array elements. */
#define BLOCK_ELEMENTS (1 << 19)
/* When the direct algorithm replaces im2col (see direct_chunk), and its
 * chunks' largest number of images. */
#define DIRECT_MIN_BATCH 16
#define DIRECT_MIN_RUN 32
#define DIRECT_MIN_OUT_CHANNELS 16
#define DIRECT_MAX_OUT_COLS 32
#define DIRECT_MAX_CHUNK 64
#define MAX_WORKERS 256

enum { KIND_FORWARD = 0, KIND_GRAD_WEIGHTS = 1, KIND_GRAD_INPUTS = 2 };

/* One convolution, as Python lays it out (convnet.ops.conv.cpu_kernel.problem):
 * the input (NCHW), the filters' out channels and spatial sizes (their in
 * channels are the input's), the output's spatial sizes, the zeros added on
 * each side, strides, dilations, whether filters are flipped (a convolution
 * rather than a cross-correlation) and which Op. */
typedef struct {
    int64_t batch, channels, height, width;
    int64_t out_channels, filter_rows, filter_cols;
    int64_t out_rows, out_cols, pad_rows, pad_cols;
    int64_t stride_rows, stride_cols, dilation_rows, dilation_cols;
    int64_t flip, kind;
} problem_t;

#define PROBLEM_FIELDS ((Py_ssize_t)(sizeof(problem_t) / sizeof(int64_t)))

typedef void sgemm_t(char *, char *, int *, int *, int *, float *, float *, int *, float *, int *, float *,
                     float *, int *);
typedef void dgemm_t(char *, char *, int *, int *, int *, double *, double *, int *, double *, int *,
                     double *, double *, int *);

static int no_thread_control(void) { return -1; }
static void ignore_threads(int threads) { (void)threads; }

/* The BLAS the kernels call, and its thread count; set by configure(). */
static struct {
    sgemm_t *sgemm;
    dgemm_t *dgemm;
    int (*get_threads)(void);
    void (*set_threads)(int);
    int64_t max_workers;
} blas = {NULL, NULL, no_thread_control, ignore_threads, 1};

/* BLAS set to one thread while any call runs several workers (enter = 1),
 * and back to its thread count when the last such call is done (enter = 0):
 * the count is global, and calls from several Python threads (the GIL is
 * released) may overlap. */
static void single_threaded_blas(int enter)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static int running = 0, saved = -1;
    pthread_mutex_lock(&lock);
    if (enter && running++ == 0) {
        saved = blas.get_threads();
        blas.set_threads(1);
    } else if (!enter && --running == 0) {
        blas.set_threads(saved);
    }
    pthread_mutex_unlock(&lock);
}

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
static inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* The blocks of the im2col algorithm: images per block, output rows per
 * block, the number of blocks and the row pitch of a block's buffers. */
typedef struct {
    int64_t images, rows, blocks, pitch;
} plan_t;

static plan_t make_plan(const problem_t *p)
{
    plan_t plan;
    int64_t taps = p->channels * p->filter_rows * p->filter_cols;
    int64_t pixels = max64(BLOCK_ELEMENTS / max64(taps, 1), p->out_cols);
    int64_t out_plane = p->out_rows * p->out_cols;
    if (out_plane <= pixels) {
        plan.images = max64(min64(pixels / out_plane, p->batch), 1);
        plan.rows = p->out_rows;
        plan.blocks = ceil_div(p->batch, plan.images);
    } else {
        plan.images = 1;
        plan.rows = pixels / p->out_cols;
        plan.blocks = p->batch * ceil_div(p->out_rows, plan.rows);
    }
    plan.pitch = plan.images * plan.rows * p->out_cols;
    return plan;
}

/* Blocks per task (a task is a run of blocks that covers whole images, so
 * that tasks write disjoint parts of an input gradient); the number of tasks
 * into *tasks unless NULL. */
static int64_t tasks_of_plan(const plan_t *plan, const problem_t *p, int64_t *tasks)
{
    int64_t per_task = plan->rows == p->out_rows || p->batch == 0 ? 1 : plan->blocks / p->batch;
    if (tasks != NULL)
        *tasks = plan->blocks / per_task;
    return per_task;
}

typedef struct {
    int64_t first_image, images, first_row, rows;
} block_t;

static block_t plan_block(const plan_t *plan, const problem_t *p, int64_t index)
{
    block_t block;
    if (plan->rows == p->out_rows) {
        block.first_image = index * plan->images;
        block.images = min64(plan->images, p->batch - block.first_image);
        block.first_row = 0;
        block.rows = p->out_rows;
    } else {
        int64_t per_image = ceil_div(p->out_rows, plan->rows);
        block.first_image = index / per_image;
        block.images = 1;
        block.first_row = (index % per_image) * plan->rows;
        block.rows = min64(plan->rows, p->out_rows - block.first_row);
    }
    return block;
}

/* For filter column (or row) tap: the input column under output column 0,
 * and the range [*first, *stop) of output columns whose input column is
 * inside the image. */
static int64_t valid_range(int64_t tap, int64_t dilation, int64_t pad, int64_t stride, int64_t size,
                           int64_t out_size, int64_t *first, int64_t *stop)
{
    int64_t offset = tap * dilation - pad;
    int64_t start = offset >= 0 ? 0 : (stride - 1 - offset) / stride;
    int64_t last_inside = size - 1 - offset;
    *stop = last_inside >= 0 ? min64(last_inside / stride + 1, out_size) : 0;
    *first = min64(start, *stop);
    return offset;
}

/* Where filter tap k = (channel, p, q) reads in a block: its channel; the
 * input row under output row 0 and the output rows [top, bottom) of the block
 * that read inside the image; the input column under output column 0 and the
 * output columns [first, stop) that read inside the image. */
typedef struct {
    int64_t channel, row_offset, top, bottom, col_offset, first, stop;
} tap_t;

static tap_t tap_geometry(int64_t k, const problem_t *p, const block_t *block)
{
    tap_t t;
    int64_t taps = p->filter_rows * p->filter_cols, row_first, row_stop;
    t.channel = k / taps;
    t.row_offset = valid_range((k / p->filter_cols) % p->filter_rows, p->dilation_rows, p->pad_rows,
                               p->stride_rows, p->height, p->out_rows, &row_first, &row_stop);
    int64_t end = block->first_row + block->rows;
    t.top = min64(max64(row_first, block->first_row), end);
    t.bottom = max64(min64(row_stop, end), t.top);
    t.col_offset = valid_range(k % p->filter_cols, p->dilation_cols, p->pad_cols, p->stride_cols, p->width,
                               p->out_cols, &t.first, &t.stop);
    return t;
}

/* Images per chunk (the last may have fewer) of the direct algorithm, or 0
 * where im2col does better: batches under DIRECT_MIN_BATCH, channel runs
 * (run * C) under DIRECT_MIN_RUN numbers, fewer output channels than
 * DIRECT_MIN_OUT_CHANNELS, output rows over DIRECT_MAX_OUT_COLS pixels. */
static int64_t direct_chunk(const problem_t *p)
{
    int64_t run = p->dilation_cols == 1 ? p->filter_cols : 1;
    if (p->batch < DIRECT_MIN_BATCH || run * p->channels < DIRECT_MIN_RUN
        || p->out_channels < DIRECT_MIN_OUT_CHANNELS || p->out_cols > DIRECT_MAX_OUT_COLS)
        return 0;
    int64_t image_size = p->height * p->width * p->channels;
    /* At most BLOCK_ELEMENTS numbers (a chunk stays in the caches) or
     * DIRECT_MAX_CHUNK images, at least DIRECT_MIN_BATCH; chunks of equal size. */
    int64_t largest = min64(max64(BLOCK_ELEMENTS / max64(image_size, 1), DIRECT_MIN_BATCH), DIRECT_MAX_CHUNK);
    return ceil_div(p->batch, ceil_div(p->batch, largest));
}

/* One GEMM of the direct algorithm: the offset of the run in an image of the
 * channels-last chunk, the first filter row (channels-last), the output pixel
 * and the run's length. */
typedef struct {
    int64_t start, filter_row, pixel, inner;
} gemm_run_t;

/* The GEMMs of one chunk (malloc'ed; NULL when memory runs out), their number
 * into *count.  Taps that fall in the padding are left out, so a run covers
 * the consecutive filter columns that read inside the image (one column
 * where columns are dilated), and padding costs nothing. */
static gemm_run_t *direct_gemms(const problem_t *p, int64_t *count)
{
    int64_t pixels = p->out_rows * p->out_cols, index = 0;
    gemm_run_t *gemms = malloc((size_t)max64(pixels * p->filter_rows * p->filter_cols, 1) * sizeof *gemms);
    if (gemms == NULL)
        return NULL;
    for (int64_t pixel = 0; pixel < pixels; pixel++) {
        int64_t row = pixel / p->out_cols, col = pixel % p->out_cols;
        for (int64_t fr = 0; fr < p->filter_rows; fr++) {
            int64_t input_row = row * p->stride_rows + fr * p->dilation_rows - p->pad_rows;
            if (input_row < 0 || input_row >= p->height)
                continue;
            for (int64_t q = 0; q < p->filter_cols; q++) {
                int64_t input_col = col * p->stride_cols + q * p->dilation_cols - p->pad_cols;
                if (input_col < 0 || input_col >= p->width)
                    continue; /* in the padding */
                if (p->dilation_cols == 1 && q > 0 && input_col > 0)
                    continue; /* inside the run of an earlier tap */
                int64_t run = 1;
                while (p->dilation_cols == 1 && q + run < p->filter_cols && input_col + run < p->width)
                    run++;
                gemms[index].start = (input_row * p->width + input_col) * p->channels;
                gemms[index].filter_row = (fr * p->filter_cols + q) * p->channels;
                gemms[index].pixel = pixel;
                gemms[index].inner = run * p->channels;
                index++;
            }
        }
    }
    *count = index;
    return gemms;
}

/* How many tasks (runs of work on disjoint images) the algorithm has: chunks
 * for the direct one (chunk > 0), else im2col's. */
static int64_t tasks_of(const problem_t *p, int64_t chunk)
{
    if (chunk > 0)
        return ceil_div(p->batch, chunk);
    plan_t plan = make_plan(p);
    int64_t tasks;
    tasks_of_plan(&plan, p, &tasks);
    return tasks;
}

/* How many workers share the tasks: as many as BLAS may use threads, at most
 * blas.max_workers and one per task; a single one where BLAS's threads cannot
 * be set (the getter gives -1). */
static int64_t worker_count(int64_t tasks)
{
    return max64(min64(min64(blas.get_threads(), blas.max_workers), min64(tasks, MAX_WORKERS)), 1);
}

/* ConvGradInputs as the convolution whose output is the input gradient,
 * where the stride is 1: the output gradient padded by dilation * (filter
 * size - 1) - pad on each side, convolved with the filters with in and out
 * channels swapped, flipped the other way.  Its taps in that padding are
 * skipped, so it does the work of the gradient.  Fills *t and returns 1
 * where the direct algorithm computes it, else returns 0. */
static int transposed_problem(const problem_t *p, problem_t *t)
{
    int64_t pad_rows = (p->filter_rows - 1) * p->dilation_rows - p->pad_rows;
    int64_t pad_cols = (p->filter_cols - 1) * p->dilation_cols - p->pad_cols;
    if (p->stride_rows != 1 || p->stride_cols != 1 || pad_rows < 0 || pad_cols < 0)
        return 0;
    *t = *p;
    t->channels = p->out_channels;
    t->out_channels = p->channels;
    t->height = p->out_rows;
    t->width = p->out_cols;
    t->out_rows = p->height;
    t->out_cols = p->width;
    t->pad_rows = pad_rows;
    t->pad_cols = pad_cols;
    t->flip = !p->flip;
    t->kind = KIND_FORWARD;
    return direct_chunk(t) > 0;
}

/* The problem the kernel computes for *p into *computed, and the images per
 * chunk of the direct algorithm (0: im2col) into *chunk; returns whether a
 * ConvGradInputs is computed as the transposed forward convolution. */
static int choose(const problem_t *p, problem_t *computed, int64_t *chunk)
{
    if (p->kind == KIND_GRAD_INPUTS && transposed_problem(p, computed)) {
        *chunk = direct_chunk(computed);
        return 1;
    }
    *computed = *p;
    *chunk = p->kind == KIND_GRAD_INPUTS ? 0 : direct_chunk(p);
    return 0;
}

#define REAL float
#define NAME(x) x##_float
#define XGEMM blas.sgemm
#include "conv2d.h"
#undef REAL
#undef NAME
#undef XGEMM

#define REAL double
#define NAME(x) x##_double
#define XGEMM blas.dgemm
#include "conv2d.h"
#undef REAL
#undef NAME
#undef XGEMM

/* --- The Python module ------------------------------------------------------------- */

static PyObject *configure(PyObject *self, PyObject *args)
{
    unsigned long long sgemm, dgemm, get_threads, set_threads;
    long long max_workers;
    if (!PyArg_ParseTuple(args, "KKKKL", &sgemm, &dgemm, &get_threads, &set_threads, &max_workers))
        return NULL;
    if (sgemm == 0 || dgemm == 0) {
        PyErr_SetString(PyExc_ValueError, "configure: the sgemm and dgemm addresses must not be 0");
        return NULL;
    }
    blas.sgemm = (sgemm_t *)(uintptr_t)sgemm;
    blas.dgemm = (dgemm_t *)(uintptr_t)dgemm;
    if (get_threads != 0 && set_threads != 0) {
        blas.get_threads = (int (*)(void))(uintptr_t)get_threads;
        blas.set_threads = (void (*)(int))(uintptr_t)set_threads;
    } else {
        blas.get_threads = no_thread_control;
        blas.set_threads = ignore_threads;
    }
    blas.max_workers = max_workers < 1 ? 1 : max_workers;
    Py_RETURN_NONE;
}

static PyObject *address(PyObject *self, PyObject *args)
{
    const char *dtype;
    if (!PyArg_ParseTuple(args, "s", &dtype))
        return NULL;
    if (strcmp(dtype, "float32") == 0)
        return PyLong_FromVoidPtr((void *)convnet_conv2d_float);
    if (strcmp(dtype, "float64") == 0)
        return PyLong_FromVoidPtr((void *)convnet_conv2d_double);
    PyErr_Format(PyExc_ValueError, "address: no convolution kernel for dtype %s (float32 or float64)", dtype);
    return NULL;
}

/* The problem array behind a Python object, checked; 0, or -1 with an exception set. */
static int problem_view(PyObject *object, Py_buffer *view)
{
    if (PyObject_GetBuffer(object, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) != 0)
        return -1;
    if (view->itemsize != 8 || view->len != (Py_ssize_t)sizeof(problem_t)) {
        PyBuffer_Release(view);
        PyErr_Format(PyExc_TypeError, "the problem must be an int64 array of %d fields", (int)PROBLEM_FIELDS);
        return -1;
    }
    return 0;
}

/* run(a, b, out, problem): see convnet_conv2d in conv2d.h.  The arrays must be
 * C-contiguous, of one float dtype, out writeable, problem int64, and have
 * the numbers of elements the problem needs (checked: the shapes themselves,
 * the caller's geometry checks). */
static PyObject *run(PyObject *self, PyObject *args)
{
    PyObject *objects[4];
    Py_buffer views[4];
    int got = 0, status = 0;
    if (blas.sgemm == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "run: configure() was not called");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "OOOO", &objects[0], &objects[1], &objects[2], &objects[3]))
        return NULL;
    for (; got < 3; got++) {
        int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (got == 2 ? PyBUF_WRITABLE : 0);
        if (PyObject_GetBuffer(objects[got], &views[got], flags) != 0)
            goto done;
    }
    if (problem_view(objects[3], &views[3]) != 0)
        goto done;
    got++;
    const char *format = views[0].format;
    int is_float = strcmp(format, "f") == 0, is_double = strcmp(format, "d") == 0;
    if (!(is_float || is_double) || strcmp(views[1].format, format) != 0 || strcmp(views[2].format, format) != 0) {
        PyErr_SetString(PyExc_TypeError, "run: a, b and out must be C-contiguous arrays of one float dtype");
        goto done;
    }
    problem_t p;
    memcpy(&p, views[3].buf, sizeof p);
    int64_t images = p.batch * p.channels * p.height * p.width;
    int64_t filters = p.out_channels * p.channels * p.filter_rows * p.filter_cols;
    int64_t output = p.batch * p.out_channels * p.out_rows * p.out_cols;
    int64_t expected[3] = {images, filters, output}; /* Conv: images, filters, output */
    if (p.kind == KIND_GRAD_WEIGHTS) {
        expected[1] = output;
        expected[2] = filters;
    } else if (p.kind == KIND_GRAD_INPUTS) {
        expected[0] = filters;
        expected[1] = output;
        expected[2] = images;
    } else if (p.kind != KIND_FORWARD) {
        PyErr_Format(PyExc_ValueError, "run: unknown kind %lld in the problem", (long long)p.kind);
        goto done;
    }
    for (int i = 0; i < 3; i++)
        if (views[i].len != expected[i] * views[i].itemsize) {
            PyErr_Format(PyExc_ValueError, "run: operand %d has %lld elements, the problem needs %lld", i,
                         (long long)(views[i].len / views[i].itemsize), (long long)expected[i]);
            goto done;
        }
    Py_BEGIN_ALLOW_THREADS
    if (is_float)
        status = convnet_conv2d_float(views[0].buf, views[1].buf, views[2].buf, views[3].buf);
    else
        status = convnet_conv2d_double(views[0].buf, views[1].buf, views[2].buf, views[3].buf);
    Py_END_ALLOW_THREADS
    if (status != 0)
        PyErr_NoMemory();
done:
    for (int i = 0; i < got; i++)
        PyBuffer_Release(&views[i]);
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *algorithms(PyObject *self, PyObject *args)
{
    PyObject *object;
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "O", &object) || problem_view(object, &view) != 0)
        return NULL;
    problem_t p, computed;
    int64_t chunk;
    memcpy(&p, view.buf, sizeof p);
    PyBuffer_Release(&view);
    int transposed = choose(&p, &computed, &chunk);
    return Py_BuildValue("LNL", (long long)chunk, PyBool_FromLong(transposed),
                         (long long)worker_count(tasks_of(&computed, chunk)));
}

static PyMethodDef methods[] = {
    {"configure", configure, METH_VARARGS,
     "configure(sgemm, dgemm, get_threads, set_threads, max_workers): the addresses of the BLAS "
     "functions to call (thread functions 0 where BLAS's threads cannot be set) and the most workers."},
    {"address", address, METH_VARARGS, "address(dtype): the kernel's C entry point for 'float32' or 'float64'."},
    {"algorithms", algorithms, METH_VARARGS,
     "algorithms(problem): (images per chunk of the direct algorithm or 0 for im2col, whether a "
     "ConvGradInputs runs as the transposed convolution, workers)."},
    {"run", run, METH_VARARGS, "run(a, b, out, problem): the kernel on C-contiguous arrays, without the GIL."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_kernel",
    "The 2-D convolution kernel of convnet's CPU backends (see convnet.ops.conv.cpu_kernel).", -1, methods,
};

PyMODINIT_FUNC PyInit__kernel(void)
{
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && PyModule_AddIntConstant(m, "PROBLEM_FIELDS", PROBLEM_FIELDS) != 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
