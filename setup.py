"""Build the compiled core.  There is no pure-Python fallback: if the
extension does not build, installation fails."""
import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

# -ffp-contract=off: no fused multiply-add, so a recorded and a replayed tape
# round identically whatever the compiler decides to contract.
compile_args = ["-O3", "-ffp-contract=off", "-fno-strict-aliasing"]

extensions = [
    Extension(
        "fastad._tape",
        sources=["src/fastad/_tape.pyx", "csrc/fastad_tape.c", "csrc/fastad_scalar.c",
                 "csrc/fastad_steps.c", "csrc/fastad_fused.c", "csrc/fastad_taylor.c"],
        include_dirs=["csrc", numpy.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=compile_args,
    )
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives={"language_level": "3"},
    ),
)
