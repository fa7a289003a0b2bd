"""Installation script for convnet."""
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent

setup(
    name="convnet",
    version="0.1.0",
    description="Lasagne-style neural-network layers for PyTensor, with its own conv/pool ops "
    "for the Numba (CPU) and JAX (GPU) backends.",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.11",
    packages=find_packages(include=["convnet", "convnet.*"]),
    package_data={"convnet.datasets": ["data/*.npz"]},
    install_requires=[
        "numpy>=2.0",
        "scipy>=1.11",
        "pytensor>=3.0.7,<3.1",
        "tqdm>=4.60",
    ],
    extras_require={
        "jax": ["jax>=0.6"],
        "sklearn": ["scikit-learn>=1.6", "joblib>=1.3"],
        "plot": ["matplotlib>=3.7"],
        "image": ["pillow>=10"],
        "docs": ["sphinx>=7"],
        "test": [
            "pytest>=8",
            "hypothesis>=6",
            "jax>=0.6",
            "scikit-learn>=1.6",
            "joblib>=1.3",
            "matplotlib>=3.7",
            "pillow>=10",
            "sphinx>=7",
            "safetensors>=0.4",
        ],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "License :: OSI Approved :: MIT License",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
