"""The one thing pyproject.toml cannot say yet without a warning: lbguard's C extension.

`lbguard._speedups` holds C twins of the HAProxy parser's hottest loops (see
src/lbguard/speedups.py). It is optional: without a C compiler the install goes on
and lbguard runs the Python twins, which give the same answers.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("lbguard._speedups", sources=["src/lbguard/_speedups.c"], optional=True),
    ]
)
