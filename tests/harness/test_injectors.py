"""The stand-in injectors' decisions, table by table: they are what the e2e tier holds the plugin
to, so they are checked against the meshes' own rules here (no cluster needed)."""
import pytest

from tests.harness.injectors.common import parse_bool


@pytest.mark.parametrize("text,expected", [
    *[(word, True) for word in ("1", "t", "T", "TRUE", "true", "True")],
    *[(word, False) for word in ("0", "f", "F", "FALSE", "false", "False")],
    *[(word, None) for word in ("yes", "on", "no", "off", "tRUE", " true", "true ", "", "2")],
])
def test_parse_bool_is_gos_strconv_parsebool(text, expected):
    assert parse_bool(text) is expected
