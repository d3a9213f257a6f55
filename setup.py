"""The native data plane's C extension; everything else about the package is in pyproject.toml.

optional=True: without a C compiler or the Python headers the build says so and installs
the pure-Python package, which then serves on the Python data plane (geodns/answer/native.py).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "geodns.answer._native",
            [
                "geodns/answer/_native.c",
                "geodns/answer/_native_defences.c",
                "geodns/answer/_native_rrl.c",
                "geodns/answer/_native_signed.c",
            ],
            depends=["geodns/answer/_native_defences.h", "geodns/answer/_native_signed.h"],
            extra_compile_args=[
                "-std=gnu11",
                "-O2",
                "-Wall",
                "-Wextra",
                "-Wno-missing-field-initializers",
            ],
            optional=True,
        )
    ]
)
