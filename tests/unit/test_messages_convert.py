"""Every converter error code and warning has a sentence; facts appear in it."""

from __future__ import annotations

import pytest

from desktop_app.core.convert import errors
from desktop_app.core.convert.errors import ConvertError
from desktop_app.messages import describe_error
from desktop_app.messages_convert import _PROBLEMS, _WARNINGS, describe_convert_warning

ALL_CODES = errors.FOLDER_CODES + errors.SAFETENSORS_CODES + errors.MODEL_CODES
ALL_CODES += errors.OUTPUT_CODES


@pytest.mark.parametrize("code", ALL_CODES)
def test_every_code_is_phrased(code: str) -> None:
    text = describe_error(ConvertError(code, "technical detail", path="/m"))
    assert text.startswith("/m: ") and text != f"/m: {code}"
    assert code in _PROBLEMS or code == "unsupported_architecture"


def test_facts_are_named() -> None:
    text = describe_error(
        ConvertError("unsupported_architecture", architecture="Foo", supported=("A", "B"))
    )
    assert "Foo" in text and "A, B" in text
    text = describe_error(
        ConvertError(
            "unsupported_architecture",
            "Gemma3ForCausalLM",
            architecture="Gemma3ForConditionalGeneration",
            supported=("Gemma3ForCausalLM",),
            field="vision",
        )
    )
    assert "vision-language" in text and "only text-only Gemma3ForCausalLM checkpoints" in text
    text = describe_error(
        ConvertError("unsupported_feature", "rope type longrope", field="rope_scaling")
    )
    assert "(rope_scaling: rope type longrope)" in text
    text = describe_error(ConvertError("shape_mismatch", tensor="w", expected=(2, 3), actual=(3,)))
    assert "w" in text and "[2, 3]" in text and "[3]" in text
    text = describe_error(ConvertError("unsupported_dtype", tensor="w", dtype="I64"))
    assert "I64" in text and "F32" in text
    text = describe_error(ConvertError("pickle_refused", files=("pytorch_model.bin",)))
    assert "pytorch_model.bin" in text
    text = describe_error(ConvertError("disk_full", needed=2 * 2**30, available=2**30))
    assert "2.0 GiB" in text and "1.0 GiB" in text


@pytest.mark.parametrize("code", sorted(_WARNINGS))
def test_every_warning_is_phrased(code: str) -> None:
    assert describe_convert_warning(code) != code
