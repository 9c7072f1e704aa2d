"""QM reference data: structures, GFN2-xTB labels (tblite), teachers and their calibration.

A workflow, not runtime data code (``docs`` design: layers): it makes the labelled frames that
:mod:`polmlip.data` reads, and nothing below the workflows imports it.
"""
