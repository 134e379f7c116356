"""Data: file formats (readers and writers), the demo competition, the batched input pipeline.

Submodules are imported on demand (`from kagglebench.data import formats`) so that
`import kagglebench.data` stays cheap; torch is only needed by `pipeline`.
"""
