"""`music-composer studio`: a local web page over a workspace of trained models (MIDI run dirs, audio checkpoints).

`workspace` finds the models and keeps every path inside the workspace, `jobs` runs long actions one at a time in a
background thread (progress, cancel), `actions` does the work from Python without HTTP, `server` is the FastAPI app
(the optional `studio` extra) and `cli` the command. Nothing in engine, wavegen or symbolic imports this package.
"""
