from lbguard.cli import run

run()
