"""The live path: a stream's windows analysed on a worker thread as the audio arrives.

``engine`` (the worker), ``hop`` (how often a window is analysed), ``run`` (one stream's state),
``results`` (what the worker hands out), ``takes`` (recordings of a running stream),
``utterances`` (one label per utterance, live) and ``frame_cache`` (frames computed once per hop).
No Qt: the CLI's ``listen`` and the GUI's live view both drive it.
"""
