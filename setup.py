"""Build the compiled core.  There is no pure-Python fallback: if the
extension does not build, installation fails."""
import subprocess

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# Flags by compiler family.  -ffp-contract=off (GCC, Clang): no fused
# multiply-add, so a recorded and a replayed tape round identically whatever
# the compiler decides to contract.  MSVC's /fp:precise does not contract
# unless /fp:contract is given.
UNIX_ARGS = ["-O3", "-ffp-contract=off", "-fno-strict-aliasing"]
MSVC_ARGS = ["/O2", "/fp:precise"]

extensions = [
    Extension(
        "fastad._tape",
        sources=["src/fastad/_tape.pyx", "csrc/fastad_tape.c", "csrc/fastad_scalar.c",
                 "csrc/fastad_steps.c", "csrc/fastad_fused.c", "csrc/fastad_taylor.c",
                 "csrc/fastad_plan.c", "csrc/fastad_record.c",
                 "csrc/fastad_pattern.c"],
        include_dirs=["csrc", numpy.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    )
]

# GCC only: the replay and reverse sweeps dispatch once per node to a handler
# per opcode, and where those handlers and jumps fall decides how well the
# processor predicts them.  Left to the code around them, the same
# instructions (callgrind: 94k per W2 replay in both builds) ran W2's replay
# in 9.9 us in one build and 12.3 us after an unrelated change elsewhere in
# the extension; aligned, 9.9-10.1 us.  (Clang warns that it ignores these
# flags, and keeps its own placement.)
GCC_ARGS = ["-falign-labels=32", "-falign-jumps=32"]


def _is_gcc(command):
    try:
        version = subprocess.run([command, "--version"], capture_output=True, text=True,
                                 timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return "clang" not in version.lower() and ("gcc" in version.lower()
                                               or "free software foundation" in version.lower())


class BuildExt(build_ext):
    def build_extensions(self):
        if self.compiler.compiler_type == "msvc":
            args = MSVC_ARGS
        else:
            compiler = getattr(self.compiler, "compiler_so", None) or ["cc"]
            args = UNIX_ARGS + (GCC_ARGS if _is_gcc(compiler[0]) else [])
        for extension in self.extensions:
            extension.extra_compile_args = extension.extra_compile_args + args
        super().build_extensions()


setup(
    cmdclass={"build_ext": BuildExt},
    ext_modules=cythonize(
        extensions,
        compiler_directives={"language_level": "3"},
    ),
)
