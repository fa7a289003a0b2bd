"""Device and floatX selection: explicit calls, $CONVNET_DEVICE, Theano's
flags and rc file, and the refusal to run a requested GPU job on the CPU."""
import os
import re
import subprocess
import sys
import warnings

import pytensor
import pytest
from pytensor.compile.mode import get_mode as get_pytensor_mode

from convnet import config


def run_in_fresh_python(code, **env):
    """Import convnet in a new interpreter with ``env`` and return its stdout."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("CONVNET_DEVICE", "THEANO_FLAGS", "THEANORC")}
    full_env.update(env)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full_env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


PRINT_CONFIG = (
    "import convnet, pytensor; "
    "print(convnet.config.get_device(), type(convnet.config.get_mode().linker).__name__, pytensor.config.floatX)"
)


@pytest.fixture
def restore_mode():
    saved = pytensor.config.mode, config._current_device
    yield
    pytensor.config.mode, config._current_device = saved


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("cpu", ("cpu", None, None)),
        ("numba", ("numba", None, None)),
        ("c", ("c", None, None)),
        ("jax", ("jax", None, None)),
        ("cuda", ("cuda", 0, None)),
        ("gpu", ("cuda", 0, None)),
        ("cuda1", ("cuda", 1, None)),
        ("cuda, fallback=cpu", ("cuda", 0, "cpu")),
        ("jax:all", ("jax", "all", None)),
        ("cuda:all", ("cuda", "all", None)),
        ("gpu:all,fallback=jax", ("cuda", "all", "jax")),
    ],
)
def test_parse_device(spec, expected):
    assert config.parse_device(spec) == expected


@pytest.mark.parametrize("spec", ["tpu", "cuda,fallback=tpu", "cuda,retry=1", "", "cpu:all", "jax:all2"])
def test_parse_device_rejects_unknown(spec):
    with pytest.raises(ValueError, match="device"):
        config.parse_device(spec)


def test_default_is_convnet_cpu_linker_float32():
    assert run_in_fresh_python(PRINT_CONFIG) == "cpu CPULinker float32"


def test_a_pytensor_mode_set_by_the_user_is_kept():
    assert run_in_fresh_python(PRINT_CONFIG, PYTENSOR_FLAGS="mode=NUMBA") == "None NumbaLinker float32"


def test_environment_variable_and_theano_flags():
    assert run_in_fresh_python(PRINT_CONFIG, CONVNET_DEVICE="c") == "c VMLinker float32"
    assert run_in_fresh_python(PRINT_CONFIG, THEANO_FLAGS="device=c,floatX=float64") == "c VMLinker float64"
    # $CONVNET_DEVICE wins over Theano's flags
    assert run_in_fresh_python(PRINT_CONFIG, CONVNET_DEVICE="cpu", THEANO_FLAGS="device=c") == "cpu CPULinker float32"


def test_theanorc_is_read(tmp_path):
    rc = tmp_path / "theanorc"
    rc.write_text("[global]\ndevice = c\nfloatX = float64\n")
    assert run_in_fresh_python(PRINT_CONFIG, THEANORC=str(rc)) == "c VMLinker float64"


def test_pytensor_flags_floatX_is_respected():
    assert run_in_fresh_python(PRINT_CONFIG, PYTENSOR_FLAGS="floatX=float64").endswith("float64")


def test_set_device_changes_what_functions_compile_for(restore_mode):
    pytest.importorskip("jax")
    config.set_device("jax")
    x = pytensor.tensor.vector()
    f = pytensor.function([x], 2 * x)
    assert type(f.maker.linker).__name__ == "BlockingJAXLinker"
    config.set_device("jax:all")
    assert type(pytensor.function([x], 2 * x).maker.linker).__name__ == "DataParallelJAXLinker"
    assert config.get_device() == "jax:all"
    config.set_device("cpu")
    assert type(pytensor.function([x], 2 * x).maker.linker).__name__ == "CPULinker"
    config.set_device("numba")
    assert type(pytensor.function([x], 2 * x).maker.linker).__name__ == "NumbaLinker"


def _jax_sees_gpu():
    try:
        import jax

        return bool(jax.devices("gpu"))
    except (ImportError, RuntimeError):
        return False


@pytest.mark.skipif(_jax_sees_gpu(), reason="a GPU is visible")
def test_cuda_without_gpu_is_an_error_not_a_silent_cpu_run(restore_mode):
    with pytest.raises(config.DeviceUnavailableError, match="device=cuda was requested but JAX sees 0 GPU"):
        config.set_device("cuda")
    with pytest.raises(config.DeviceUnavailableError, match="device=cuda:all was requested but JAX sees 0 GPU"):
        config.set_device("cuda:all")
    assert config.get_device() not in ("cuda", "cuda:all")


@pytest.mark.skipif(_jax_sees_gpu(), reason="a GPU is visible")
def test_cuda_with_fallback_warns_and_uses_cpu(restore_mode):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        config.set_device("cuda,fallback=cpu")
    assert any("falling back to device=cpu" in str(w.message) for w in caught)
    assert config.get_device() == "cpu"
    out = run_in_fresh_python(PRINT_CONFIG, THEANO_FLAGS="device=cuda,fallback=cpu")
    assert out == "cpu CPULinker float32"


# -- configuration convnet cannot use ------------------------------------------------------------


def run_import(tmp_path, rc_text=None, **env):
    """Import convnet in a new interpreter, with ``rc_text`` as its Theano rc file;
    returns the completed process (stdout: floatX and device)."""
    full_env = {k: v for k, v in os.environ.items()
                if k not in ("CONVNET_DEVICE", "THEANO_FLAGS", "THEANORC", "PYTENSOR_FLAGS")}
    rc = tmp_path / "theanorc"
    rc.write_text(rc_text if rc_text is not None else "")
    full_env.update(THEANORC=str(rc), PYTHONWARNINGS="always", **env)
    code = "import convnet, pytensor; print(pytensor.config.floatX, convnet.config.get_device())"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full_env,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize("rc_text, problem", [
    ("floatX = float64\n", "File contains no section headers: settings go under a \\[global\\] header"),
    ("[global]\nfloatX = float64\nfloatX = float32\n", "option 'floatX' in section 'global' already exists"),
    ("[global]\nfloatX\n", "Source contains parsing errors|File contains parsing errors"),
])
def test_an_unreadable_rc_file_is_ignored_with_a_warning_naming_it(tmp_path, rc_text, problem):
    result = run_import(tmp_path, rc_text)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["float32", "cpu"]  # the library works, with the defaults
    assert "ConfigurationWarning" in result.stderr
    assert f"{tmp_path / 'theanorc'}: ignoring this configuration file" in result.stderr
    assert re.search(problem, result.stderr), result.stderr


@pytest.mark.parametrize("flags", ["floatX", "device:cpu", "=cpu"])
def test_a_malformed_theano_flags_item_is_reported(tmp_path, flags):
    result = run_import(tmp_path, THEANO_FLAGS=f"{flags},floatX=float64")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "float64"  # the well-formed items still apply
    assert f"$THEANO_FLAGS: ignoring {flags!r}, which is not key=value" in result.stderr


@pytest.mark.parametrize("where, env, rc_text", [
    ("$THEANO_FLAGS", {"THEANO_FLAGS": "floatX=float16"}, None),
    ("theanorc", {}, "[global]\nfloatX = float16\n"),
    ("$PYTENSOR_FLAGS", {"PYTENSOR_FLAGS": "floatX=float16"}, None),
])
def test_float16_is_refused_at_configuration_naming_where_it_was_set(tmp_path, where, env, rc_text):
    result = run_import(tmp_path, rc_text, **env)
    assert result.returncode != 0
    assert re.search(rf"ValueError: floatX=float16 \(set in [^)]*{re.escape(where)}[^)]*\) is not supported: "
                     "convnet computes in float32 or float64", result.stderr), result.stderr


def test_an_unknown_device_names_where_it_was_set(tmp_path):
    result = run_import(tmp_path, "[global]\ndevice = tpu\n")
    assert result.returncode != 0
    assert f"unknown device 'tpu'" in result.stderr and f"(set in {tmp_path / 'theanorc'})" in result.stderr


# -- what import convnet changes, and the ways out --------------------------------------------------

PRINT_CHANGES = (
    "import os, pytensor, convnet; "
    "print(sorted(convnet.config.changed_settings()), pytensor.config.floatX, "
    "type(convnet.config.get_mode().linker).__name__, convnet.config.get_device(), "
    "os.environ.get('OPENBLAS_THREAD_TIMEOUT'))"
)


def fresh_changes(code=PRINT_CHANGES, **env):
    """Run ``code`` in a new interpreter whose environment has none of the
    settings convnet reads or changes, except ``env``."""
    # (Dask's distributed sets $MALLOC_TRIM_THRESHOLD_ in this process when imported.)
    ours = {"CONVNET_DEVICE", "CONVNET_NO_DEFAULTS", "THEANO_FLAGS", "THEANORC", "PYTENSOR_FLAGS",
            "OPENBLAS_THREAD_TIMEOUT", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES"}
    full_env = {k: v for k, v in os.environ.items() if k not in ours}
    full_env["THEANORC"] = os.devnull  # no ~/.theanorc either
    full_env.update(env)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full_env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def linker_of(mode):
    return type(get_pytensor_mode(mode).linker).__name__


# What the import changes in glibc's malloc, where it can (see convnet.config).
MALLOC = "'M_MMAP_THRESHOLD', 'M_TRIM_THRESHOLD', " if sys.platform == "linux" else ""


def test_import_reports_every_change_it_makes():
    code = ("import convnet; print(convnet.config.changed_settings()['floatX'], "
            "convnet.config.changed_settings()['mode'][0])")
    assert fresh_changes(code) == "('float64', 'float32') Mode"
    assert fresh_changes() == f"[{MALLOC}'OPENBLAS_THREAD_TIMEOUT', 'floatX', 'mode'] float32 CPULinker cpu 4"
    assert fresh_changes(THEANO_FLAGS="device=c") == (
        f"[{MALLOC}'OPENBLAS_THREAD_TIMEOUT', 'floatX', 'mode'] float32 VMLinker c 4")
    # A malloc setting of the user's own: convnet leaves malloc alone.
    assert fresh_changes(MALLOC_TRIM_THRESHOLD_="1000000").startswith("['OPENBLAS_THREAD_TIMEOUT', 'floatX'")


def test_no_defaults_environment_variable_changes_nothing():
    pytensor_default = f"float64 {linker_of('Mode')} None None"
    assert fresh_changes(CONVNET_NO_DEFAULTS="1", THEANO_FLAGS="device=c,floatX=float32") == "[] " + pytensor_default


def test_settings_the_user_made_before_the_import_stay():
    # (float32: the one supported value other than PyTensor's default float64)
    code = "import pytensor; pytensor.config.floatX = 'float32'; pytensor.config.mode = 'FAST_COMPILE'; " + PRINT_CHANGES
    assert fresh_changes(code, THEANO_FLAGS="device=c,floatX=float64") == (
        f"[{MALLOC}'OPENBLAS_THREAD_TIMEOUT'] float32 {linker_of('FAST_COMPILE')} None 4"
    )
    # PyTensor's own mode flag wins over Theano's device; $CONVNET_DEVICE is an explicit request to convnet.
    assert fresh_changes(PYTENSOR_FLAGS="mode=FAST_COMPILE", THEANO_FLAGS="device=c") == (
        f"[{MALLOC}'OPENBLAS_THREAD_TIMEOUT', 'floatX'] float32 {linker_of('FAST_COMPILE')} None 4")
    assert fresh_changes(PYTENSOR_FLAGS="mode=FAST_COMPILE", CONVNET_DEVICE="c").endswith("VMLinker c 4")


def test_restore_pytensor_defaults_undoes_the_import():
    code = "import convnet; convnet.config.restore_pytensor_defaults(); " + PRINT_CHANGES
    assert fresh_changes(code, THEANO_FLAGS="device=c") == f"[] float64 {linker_of('Mode')} None None"
    # A value the user had set stays as it was.
    assert fresh_changes(code, OPENBLAS_THREAD_TIMEOUT="10") == f"[] float64 {linker_of('Mode')} None 10"


def test_restore_leaves_what_the_user_changed_since():
    pytest.importorskip("jax")
    code = ("import os, convnet, pytensor; convnet.config.set_device('jax'); pytensor.config.floatX = 'float16'; "
            "convnet.config.restore_pytensor_defaults(); "
            "print(type(convnet.config.get_mode().linker).__name__, convnet.config.get_device(), "
            "pytensor.config.floatX, os.environ.get('OPENBLAS_THREAD_TIMEOUT'))")
    assert fresh_changes(code, THEANO_FLAGS="device=c") == "BlockingJAXLinker jax float16 None"
