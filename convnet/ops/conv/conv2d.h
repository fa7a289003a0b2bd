/* The 2-D convolution kernel, generic over the element type.
 *
 * _kernel.c includes this file once per dtype with REAL (float or double),
 * NAME(x) (a suffixed function name) and XGEMM (the BLAS gemm of that type)
 * defined.  The algorithms are described in _kernel.c.
 */

#define WORK NAME(work_t)

/* What the workers of one call share: the problem they compute (for a
 * ConvGradInputs computed as a forward convolution, that convolution's), the
 * computation, images per chunk of the direct algorithm (0: im2col), the
 * number of workers, the filters as the algorithm reads them, the input, the
 * output gradient, the output and the workers' filter-gradient sums (a row
 * each). */
typedef struct {
    problem_t problem;
    int64_t kind, chunk, workers;
    const REAL *weights, *pixels, *grads;
    REAL *output, *sums;
} WORK;

/* out = op(a) @ op(b) (+= if accumulate) for row-major matrices with row
 * pitches lda, ldb, ldc; op(m) is m.T when its transpose flag is set; out is
 * rows x cols and the product runs over inner. */
static void NAME(gemm)(int transpose_a, int transpose_b, int64_t rows, int64_t cols, int64_t inner,
                       const REAL *a, int64_t lda, const REAL *b, int64_t ldb, REAL *out, int64_t ldc,
                       int accumulate)
{
    if (rows == 0 || cols == 0)
        return;
    REAL alpha = 1, beta = accumulate ? 1 : 0;
    char ta = transpose_a ? 'T' : 'N', tb = transpose_b ? 'T' : 'N';
    int m = (int)cols, n = (int)rows, k = (int)inner;
    int la = (int)max64(ldb, 1), lb = (int)max64(lda, 1), lc = (int)max64(ldc, 1);
    /* Column-major BLAS sees each row-major matrix transposed: out.T = op(b).T @ op(a).T. */
    XGEMM(&tb, &ta, &m, &n, &k, &alpha, (REAL *)b, &la, (REAL *)a, &lb, &beta, out, &lc);
}

/* dst[dst_start + r * dst_pitch + i * dst_step] = src[src_start + r * src_pitch + i * src_step]
 * (+= if accumulate) for r < rows and i < count. */
static inline void NAME(move_rows)(REAL *restrict dst, int64_t dst_pitch, int64_t dst_step,
                                   const REAL *restrict src, int64_t src_pitch, int64_t src_step,
                                   int64_t rows, int64_t count, int accumulate)
{
    if (count <= 0)
        return;
    size_t n = (size_t)count;
    for (int64_t r = 0; r < rows; r++, dst += dst_pitch, src += src_pitch) {
        if (dst_step == 1 && src_step == 1) {
            if (accumulate)
                for (size_t i = 0; i < n; i++)
                    dst[i] += src[i];
            else
                memcpy(dst, src, n * sizeof(REAL));
        } else if (accumulate) {
            for (size_t i = 0; i < n; i++)
                dst[i * dst_step] += src[i * src_step];
        } else {
            for (size_t i = 0; i < n; i++)
                dst[i * dst_step] = src[i * src_step];
        }
    }
}

static inline void NAME(zero_run)(REAL *flat, int64_t count)
{
    if (count > 0)
        memset(flat, 0, (size_t)count * sizeof(REAL));
}

/* Fill columns[k * pitch + m] with the pixel that filter tap k = (channel, p, q)
 * sees at output pixel m of the block (its images, its rows and all output
 * columns), 0 in the padding. */
static void NAME(im2col)(const REAL *pixels, const problem_t *p, const block_t *block, REAL *columns,
                         int64_t pitch)
{
    int64_t out_width = p->out_cols, taps = p->channels * p->filter_rows * p->filter_cols;
    for (int64_t k = 0; k < taps; k++) {
        tap_t t = tap_geometry(k, p, block);
        int64_t inside = (t.top - block->first_row) * out_width; /* the first element read inside */
        int64_t partial = t.first > 0 || t.stop < out_width;
        for (int64_t image = block->first_image; image < block->first_image + block->images; image++) {
            REAL *dst = columns + k * pitch + (image - block->first_image) * block->rows * out_width;
            const REAL *plane = pixels + (image * p->channels + t.channel) * p->height * p->width;
            NAME(zero_run)(dst, inside);
            for (int64_t row = 0; partial && row < t.bottom - t.top; row++) {
                NAME(zero_run)(dst + inside + row * out_width, t.first);
                NAME(zero_run)(dst + inside + row * out_width + t.stop, out_width - t.stop);
            }
            NAME(move_rows)(dst + inside + t.first, out_width, 1,
                            plane + (t.row_offset + t.top * p->stride_rows) * p->width + t.col_offset
                                + t.first * p->stride_cols,
                            p->stride_rows * p->width, p->stride_cols, t.bottom - t.top, t.stop - t.first, 0);
            NAME(zero_run)(dst + (t.bottom - block->first_row) * out_width,
                           (block->first_row + block->rows - t.bottom) * out_width);
        }
    }
}

/* Add columns (laid out as im2col fills it) into the NCHW pixels at the
 * places they were taken from; padding is dropped. */
static void NAME(col2im)(const REAL *columns, int64_t pitch, const problem_t *p, const block_t *block,
                         REAL *pixels)
{
    int64_t out_width = p->out_cols, taps = p->channels * p->filter_rows * p->filter_cols;
    for (int64_t k = 0; k < taps; k++) {
        tap_t t = tap_geometry(k, p, block);
        for (int64_t image = block->first_image; image < block->first_image + block->images; image++) {
            const REAL *src = columns + k * pitch
                + ((image - block->first_image) * block->rows + t.top - block->first_row) * out_width + t.first;
            REAL *plane = pixels + (image * p->channels + t.channel) * p->height * p->width;
            NAME(move_rows)(plane + (t.row_offset + t.top * p->stride_rows) * p->width + t.col_offset
                                + t.first * p->stride_cols,
                            p->stride_rows * p->width, p->stride_cols, src, out_width, 1, t.bottom - t.top,
                            t.stop - t.first, 1);
        }
    }
}

/* The (out_channels x n) matrix over the pixels of the block in the NCHW
 * output (or output gradient) flat, with its row pitch: in place for rows of
 * one image, else in gathered, where the pixels are copied if gather (see
 * scatter_block). */
static REAL *NAME(output_block)(REAL *flat, const problem_t *p, const block_t *block, REAL *gathered, int gather,
                                int64_t *row_pitch)
{
    int64_t plane = p->out_rows * p->out_cols, channels = p->out_channels;
    if (block->images == 1) {
        *row_pitch = plane;
        return flat + block->first_image * channels * plane + block->first_row * p->out_cols;
    }
    *row_pitch = block->images * plane;
    for (int64_t image = 0; gather && image < block->images; image++)
        NAME(move_rows)(gathered + image * plane, *row_pitch, 1,
                        flat + (block->first_image + image) * channels * plane, plane, 1, channels, plane, 0);
    return gathered;
}

/* Copy a several-image block made by output_block back into flat. */
static void NAME(scatter_block)(const REAL *gathered, REAL *flat, const problem_t *p, const block_t *block)
{
    int64_t plane = p->out_rows * p->out_cols, channels = p->out_channels;
    for (int64_t image = 0; image < block->images; image++)
        NAME(move_rows)(flat + (block->first_image + image) * channels * plane, plane, 1,
                        gathered + image * plane, block->images * plane, 1, channels, plane, 0);
}

/* The filters of a cross-correlation: each OIHW filter rotated by 180 degrees
 * into flipped if flip, else a copy. */
static void NAME(orient)(const REAL *filters, const problem_t *p, int flip, REAL *oriented)
{
    int64_t taps = p->filter_rows * p->filter_cols, size = p->out_channels * p->channels * taps;
    for (int64_t start = 0; start < size; start += taps)
        for (int64_t tap = 0; tap < taps; tap++)
            oriented[start + tap] = filters[start + (flip ? taps - 1 - tap : tap)];
}

/* The im2col blocks of worker w (of workers), for the three computations.
 * weights are the cross-correlation's OIHW filters; see work_t. */
static int NAME(im2col_worker)(const WORK *work, int64_t w)
{
    const problem_t *p = &work->problem;
    plan_t plan = make_plan(p);
    int64_t taps = p->channels * p->filter_rows * p->filter_cols;
    int64_t per_task = tasks_of_plan(&plan, p, NULL);
    REAL *columns = malloc((size_t)max64(taps * plan.pitch, 1) * sizeof(REAL));
    REAL *gathered = malloc((size_t)max64(plan.images > 1 ? p->out_channels * plan.pitch : 0, 1) * sizeof(REAL));
    if (columns == NULL || gathered == NULL) {
        free(columns);
        free(gathered);
        return -1;
    }
    const REAL *weights = work->weights;
    int64_t image_size = p->channels * p->height * p->width;
    for (int64_t index = 0; index < plan.blocks; index++) {
        if (index / per_task % work->workers != w)
            continue;
        block_t block = plan_block(&plan, p, index);
        int64_t n = block.images * block.rows * p->out_cols, pitch;
        if (work->kind == KIND_FORWARD) {
            NAME(im2col)(work->pixels, p, &block, columns, plan.pitch);
            REAL *out = NAME(output_block)(work->output, p, &block, gathered, 0, &pitch);
            NAME(gemm)(0, 0, p->out_channels, n, taps, weights, taps, columns, plan.pitch, out, pitch, 0);
            if (block.images > 1)
                NAME(scatter_block)(gathered, work->output, p, &block);
        } else if (work->kind == KIND_GRAD_WEIGHTS) {
            NAME(im2col)(work->pixels, p, &block, columns, plan.pitch);
            REAL *grad = NAME(output_block)((REAL *)work->grads, p, &block, gathered, 1, &pitch);
            NAME(gemm)(0, 1, p->out_channels, taps, n, grad, pitch, columns, plan.pitch,
                       work->sums + w * p->out_channels * taps, taps, 1);
        } else {
            if (block.first_row == 0) /* the block starts its images: clear them */
                NAME(zero_run)(work->output + block.first_image * image_size, block.images * image_size);
            REAL *grad = NAME(output_block)((REAL *)work->grads, p, &block, gathered, 1, &pitch);
            NAME(gemm)(1, 0, taps, n, p->out_channels, weights, taps, grad, pitch, columns, plan.pitch, 0);
            NAME(col2im)(columns, plan.pitch, p, &block, work->output);
        }
    }
    free(columns);
    free(gathered);
    return 0;
}

/* dst[j * dst_pitch + i] = src[i * src_pitch + j] for i < rows, j < cols, in
 * tiles that stay in the L1 cache. */
static void NAME(transpose)(REAL *restrict dst, int64_t dst_pitch, const REAL *restrict src, int64_t src_pitch,
                            int64_t rows, int64_t cols)
{
    const int64_t tile = 16;
    for (int64_t i0 = 0; i0 < rows; i0 += tile)
        for (int64_t j0 = 0; j0 < cols; j0 += tile) {
            int64_t i1 = min64(i0 + tile, rows), j1 = min64(j0 + tile, cols);
            for (int64_t i = i0; i < i1; i++)
                for (int64_t j = j0; j < j1; j++)
                    dst[j * dst_pitch + i] = src[i * src_pitch + j];
        }
}

/* HWIO ((row, column, channel) x O) from the OIHW filters, each rotated by
 * 180 degrees if flip; with to_hwio false, the other way. */
static void NAME(channels_last_filters)(REAL *filters, const problem_t *p, int flip, REAL *hwio, int to_hwio)
{
    int64_t outs = p->out_channels, channels = p->channels, taps = p->filter_rows * p->filter_cols;
    for (int64_t o = 0; o < outs; o++)
        for (int64_t c = 0; c < channels; c++)
            for (int64_t tap = 0; tap < taps; tap++) {
                int64_t oihw = (o * channels + c) * taps + (flip ? taps - 1 - tap : tap);
                int64_t last = (tap * channels + c) * outs + o;
                if (to_hwio)
                    hwio[last] = filters[oihw];
                else
                    filters[oihw] = hwio[last];
            }
}

/* The chunks of direct worker w (of workers) of Conv or ConvGradWeights;
 * weights are HWIO filters (see channels_last_filters). */
static int NAME(direct_worker)(const WORK *work, int64_t w)
{
    const problem_t *p = &work->problem;
    int64_t chunk = work->chunk, outs = p->out_channels, channels = p->channels;
    int64_t image_size = channels * p->height * p->width, plane = p->height * p->width;
    int64_t out_plane = p->out_rows * p->out_cols;
    int64_t n_gemms;
    gemm_run_t *gemms = direct_gemms(p, &n_gemms);
    REAL *images = malloc((size_t)max64(chunk * image_size, 1) * sizeof(REAL));
    REAL *products = malloc((size_t)max64(chunk * outs * out_plane, 1) * sizeof(REAL));
    if (gemms == NULL || images == NULL || products == NULL) {
        free(gemms);
        free(images);
        free(products);
        return -1;
    }
    for (int64_t first = w * chunk; first < p->batch; first += work->workers * chunk) {
        int64_t count = min64(chunk, p->batch - first);
        for (int64_t image = 0; image < count; image++) /* NCHW -> NHWC */
            NAME(transpose)(images + image * image_size, channels,
                            work->pixels + (first + image) * image_size, plane, channels, plane);
        if (work->kind == KIND_FORWARD) {
            memset(products, 0, (size_t)(count * outs * out_plane) * sizeof(REAL)); /* padding-only pixels */
            for (int64_t g = 0; g < n_gemms; g++)
                NAME(gemm)(0, 0, count, outs, gemms[g].inner, images + gemms[g].start, image_size,
                           work->weights + gemms[g].filter_row * outs, outs,
                           products + gemms[g].pixel * count * outs, outs, 1);
            for (int64_t image = 0; image < count; image++) /* pixel-major -> NCHW */
                NAME(transpose)(work->output + (first + image) * outs * out_plane, out_plane,
                                products + image * outs, count * outs, out_plane, outs);
        } else {
            for (int64_t image = 0; image < count; image++) /* NCHW -> pixel-major */
                NAME(transpose)(products + image * outs, count * outs,
                                work->grads + (first + image) * outs * out_plane, out_plane, outs, out_plane);
            REAL *sums = work->sums + w * outs * channels * p->filter_rows * p->filter_cols;
            for (int64_t g = 0; g < n_gemms; g++)
                NAME(gemm)(1, 0, gemms[g].inner, outs, count, images + gemms[g].start, image_size,
                           products + gemms[g].pixel * count * outs, outs, sums + gemms[g].filter_row * outs,
                           outs, 1);
        }
    }
    free(gemms);
    free(images);
    free(products);
    return 0;
}

static int NAME(worker)(const WORK *work, int64_t w)
{
    return work->chunk > 0 ? NAME(direct_worker)(work, w) : NAME(im2col_worker)(work, w);
}

typedef struct {
    const WORK *work;
    int64_t worker;
    int status;
} NAME(thread_arg_t);

static void *NAME(thread_main)(void *raw)
{
    NAME(thread_arg_t) *arg = raw;
    arg->status = NAME(worker)(arg->work, arg->worker);
    return NULL;
}

/* Runs the workers of a work: worker 0 on this thread, the others on threads
 * of their own, BLAS limited to one thread while several run. */
static int NAME(run_workers)(const WORK *work)
{
    if (work->workers == 1)
        return NAME(worker)(work, 0);
    NAME(thread_arg_t) args[MAX_WORKERS];
    pthread_t threads[MAX_WORKERS];
    int started[MAX_WORKERS] = {0}, status = 0;
    single_threaded_blas(1);
    for (int64_t w = 1; w < work->workers; w++) {
        args[w] = (NAME(thread_arg_t)){work, w, 0};
        started[w] = pthread_create(&threads[w], NULL, NAME(thread_main), &args[w]) == 0;
        if (!started[w])
            args[w].status = NAME(worker)(work, w); /* no thread: run it here */
    }
    status |= NAME(worker)(work, 0);
    for (int64_t w = 1; w < work->workers; w++) {
        if (started[w])
            pthread_join(threads[w], NULL);
        status |= args[w].status;
    }
    single_threaded_blas(0);
    return status;
}

/* The C entry point of the three Ops, problem->kind telling which: (a, b, out)
 * are the C-contiguous (images, filters, output) of Conv, (images, output
 * gradient, filter gradient) of ConvGradWeights, or (filters, output gradient,
 * input gradient) of ConvGradInputs.  Returns 0, or -1 when memory runs out. */
int NAME(convnet_conv2d)(const REAL *a, const REAL *b, REAL *out, const int64_t *raw_problem)
{
    problem_t p;
    memcpy(&p, raw_problem, sizeof p);
    int64_t taps = p.filter_rows * p.filter_cols, filter_size = p.out_channels * p.channels * taps;
    WORK work = {.kind = p.kind, .output = out};
    int transposed = choose(&p, &work.problem, &work.chunk);
    /* The filters as the algorithm reads them; ConvGradWeights reads none. */
    REAL *weights = NULL, *sums = NULL;
    if (p.kind != KIND_GRAD_WEIGHTS && (weights = malloc((size_t)max64(filter_size, 1) * sizeof(REAL))) == NULL)
        return -1;
    if (transposed) {
        /* The forward convolution of the output gradient with the filters, in
         * and out channels swapped (IOHW), flipped the other way, channels-last. */
        REAL *swapped = malloc((size_t)max64(filter_size, 1) * sizeof(REAL));
        if (swapped == NULL) {
            free(weights);
            return -1;
        }
        for (int64_t o = 0; o < p.out_channels; o++)
            for (int64_t c = 0; c < p.channels; c++)
                memcpy(swapped + (c * p.out_channels + o) * taps, a + (o * p.channels + c) * taps,
                       (size_t)taps * sizeof(REAL));
        NAME(channels_last_filters)(swapped, &work.problem, (int)work.problem.flip, weights, 1);
        free(swapped);
        work.kind = KIND_FORWARD;
        work.weights = weights;
        work.pixels = b;
    } else if (p.kind == KIND_GRAD_WEIGHTS) {
        work.pixels = a;
        work.grads = b;
    } else {
        const REAL *filters = p.kind == KIND_FORWARD ? b : a;
        if (work.chunk > 0)
            NAME(channels_last_filters)((REAL *)filters, &p, (int)p.flip, weights, 1);
        else
            NAME(orient)(filters, &p, (int)p.flip, weights);
        work.weights = weights;
        work.pixels = p.kind == KIND_FORWARD ? a : NULL;
        work.grads = p.kind == KIND_FORWARD ? NULL : b;
    }
    work.workers = worker_count(tasks_of(&work.problem, work.chunk));
    if (work.kind == KIND_GRAD_WEIGHTS) {
        sums = calloc((size_t)max64(work.workers * filter_size, 1), sizeof(REAL));
        if (sums == NULL) {
            free(weights);
            return -1;
        }
        work.sums = sums;
    }
    int status = work.problem.batch > 0 ? NAME(run_workers)(&work) : 0;
    if (work.kind == KIND_GRAD_WEIGHTS && status == 0) {
        for (int64_t w = 1; w < work.workers; w++)
            for (int64_t i = 0; i < filter_size; i++)
                sums[i] += sums[w * filter_size + i];
        if (work.chunk > 0)
            NAME(channels_last_filters)(out, &p, (int)p.flip, sums, 0);
        else
            NAME(orient)(sums, &p, (int)p.flip, out);
    }
    free(weights);
    free(sums);
    return status;
}

#undef WORK
