"""llama.cpp's own command-line tools, built from the llama.cpp that llama-cpp-python vendors.

The benchmarks compare QuantDesk with llama-quantize, llama-bench and llama-perplexity. For the
comparison to mean anything the tools must run the same kernels as the installed wheel, so they
are built from the sdist of the installed llama-cpp-python version with the Makefile's portable
CMake flags. Everything lives in benchmarks/.cache (git-ignored); nothing is copied into the
repository:

    .cache/sdist/llama_cpp_python-<version>.tar.gz   pip download --no-binary :all:
    .cache/llama_cpp_python-<version>/vendor/llama.cpp  the extracted source
    .cache/llama.cpp-build/bin/<tool>                  one cmake build tree for every tool

``ensure_tool(name)`` returns the binary, building only that target when it is missing (about
5 minutes for the first tool on 2 cores, 1-2 minutes for each further one: the libraries are
shared). A file lock serialises builds, so two benchmark scripts started at once share one.

Usage:
    python benchmarks/native_tools.py [llama-bench llama-quantize llama-perplexity]
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.metadata
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

CACHE = Path(__file__).resolve().parent / ".cache"
TOOLS = ("llama-quantize", "llama-bench", "llama-perplexity")
FALLBACK_VERSION = "0.3.36"  # used only when llama-cpp-python is not installed here
SDIST_DIR = CACHE / "sdist"
BUILD_DIR = CACHE / "llama.cpp-build"
# The Makefile's portable x86-64 flags, so the native tools run the same kernels as the wheel.
CMAKE_FLAGS = [
    "-DCMAKE_BUILD_TYPE=Release",
    "-DGGML_NATIVE=OFF",
    "-DGGML_AVX2=ON",
    "-DGGML_FMA=ON",
    "-DGGML_F16C=ON",
    "-DLLAMA_CURL=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_SERVER=OFF",
]


def llama_cpp_python_version() -> str:
    """The installed llama-cpp-python: the tools must come from the same llama.cpp."""
    try:
        return importlib.metadata.version("llama-cpp-python")
    except importlib.metadata.PackageNotFoundError:
        return FALLBACK_VERSION


def source_dir() -> Path:
    return CACHE / f"llama_cpp_python-{llama_cpp_python_version()}" / "vendor" / "llama.cpp"


def _run(cmd: list[str]) -> None:
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "native-build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another script may be building: wait for it
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _fetch_source() -> Path:
    version = llama_cpp_python_version()
    src = source_dir()
    if (src / "CMakeLists.txt").exists():
        return src
    SDIST_DIR.mkdir(parents=True, exist_ok=True)
    archive = SDIST_DIR / f"llama_cpp_python-{version}.tar.gz"
    if not archive.exists():
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--no-binary",
                ":all:",
                f"llama-cpp-python=={version}",
                "-d",
                str(SDIST_DIR),
            ]
        )
    with tarfile.open(archive) as tar:
        tar.extractall(CACHE, filter="data")
    return src


def ensure_tool(name: str) -> Path:
    """The path of llama.cpp's ``name`` tool (one of TOOLS), built once into BUILD_DIR."""
    if name not in TOOLS:
        raise ValueError(f"unknown llama.cpp tool {name!r}; known: {', '.join(TOOLS)}")
    binary = BUILD_DIR / "bin" / name
    if binary.exists():
        return binary
    with _build_lock():
        if binary.exists():  # built by whoever held the lock before us
            return binary
        src = _fetch_source()
        started = time.monotonic()
        if not (BUILD_DIR / "CMakeCache.txt").exists():
            generator = ["-G", "Ninja"] if shutil.which("ninja") else []
            _run(["cmake", "-S", str(src), "-B", str(BUILD_DIR), *generator, *CMAKE_FLAGS])
        _run(["cmake", "--build", str(BUILD_DIR), "--target", name, "-j", "2"])
        print(f"built {binary} in {time.monotonic() - started:.0f} s", flush=True)
    return binary


if __name__ == "__main__":
    for tool in sys.argv[1:] or TOOLS:
        print(ensure_tool(tool))
