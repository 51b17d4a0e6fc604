"""Command-line options that several commands take: declared once, so `check`,
`simulate` and `verify` spell and explain them alike."""

from __future__ import annotations

import click

# `haproxy -f A -f DIR` reads all of them as one config (a directory's *.cfg in
# lexical order); without the flag each file is a config of its own.
merge_option = click.option(
    "--merge",
    is_flag=True,
    help="Read all HAProxy files and directories as one config, like haproxy -f A -f DIR.",
)
