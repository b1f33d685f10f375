"""Training pipeline (needs the ``[train]`` extra: TensorFlow, librosa).

Nothing here is imported by the app; the app only reads what
:mod:`serlive.train.export` writes.
"""
