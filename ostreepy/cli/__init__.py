"""The ``ostreepy`` command line: a thin skin over the library, one module per
command group (:mod:`~ostreepy.cli.entry` the program's entry point,
:mod:`~ostreepy.cli.main` the parser, :mod:`~ostreepy.cli.repo` the repository
verbs of ``ostree`` over :mod:`ostreepy.porcelain`, :mod:`~ostreepy.cli.admin` ``ostree admin``,
:mod:`~ostreepy.cli.container` ``ostree container``, :mod:`~ostreepy.cli.bootc`
bootc's verbs). Printing and exit codes live here and nowhere else; a group's
module is imported only when the command line names it, so that start-up
stays fast."""
