"""The application layer: the ``blendmask`` command's work (demo, rendering), the notebooks' workspace
and every work budget. It may import everything below it: ``viz``, ``blendmask.analysis`` and the model
package."""
