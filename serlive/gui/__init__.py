"""Qt desktop app: live view and file viewer over :mod:`serlive.stream` and :mod:`serlive.analysis`.

The only package of serlive that imports Qt; everything here is a thin adapter.
"""
