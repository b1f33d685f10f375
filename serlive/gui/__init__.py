"""Qt desktop app: the live view and the file viewer over :mod:`serlive.live` and :mod:`serlive.files`.

The only package of serlive that imports Qt; everything here is a thin adapter.
"""
