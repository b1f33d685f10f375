"""The file path: a file's samples planned into windows, analysed in batches, gathered into a timeline.

``analysis`` (one file, one core), ``parallel`` (every core: threads, and the choice of worker
processes), ``processes`` (a folder's files on worker processes).  No Qt: ``predict``, ``evaluate``
and the GUI's file viewer all call it.
"""
