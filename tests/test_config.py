"""Device and floatX selection: explicit calls, $CONVNET_DEVICE, Theano's
flags and rc file, and the refusal to run a requested GPU job on the CPU."""
import os
import subprocess
import sys
import warnings

import pytensor
import pytest

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
