"""One base class for every error the pipeline raises on purpose."""

import inspect

import pipeline.errors as errors


def test_every_error_derives_from_laps_error():
    classes = [
        c for _, c in inspect.getmembers(errors, inspect.isclass) if c.__module__ == errors.__name__
    ]
    assert len(classes) > 15
    for cls in classes:
        assert issubclass(cls, errors.LapsError), cls


def test_builtin_bases_are_kept_for_callers_that_catch_them():
    assert issubclass(errors.StorageKeyError, KeyError)
    assert issubclass(errors.SegmentFileError, ValueError)
    assert issubclass(errors.CalibrationError, ValueError)
    assert issubclass(errors.NoTokenizerError, RuntimeError)
    err = errors.StorageKeyError("s3://b/k")
    assert str(err) == "no such object: s3://b/k" and err.uri == "s3://b/k"


def test_no_error_class_is_defined_outside_the_errors_module():
    import pathlib

    root = pathlib.Path(errors.__file__).parent
    for path in root.rglob("*.py"):
        if path.name == "errors.py" and path.parent == root:
            continue
        text = path.read_text()
        for line in text.splitlines():
            if line.startswith("class ") and ("Error(" in line or "Exception)" in line):
                raise AssertionError(f"{path}: {line}")
