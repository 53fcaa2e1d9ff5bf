"""The README's config reference and commands stay true."""

from pathlib import Path

from justfit.config import JustfitConfig

README = (Path(__file__).parents[1] / "README.md").read_text()


def test_every_config_key_is_documented():
    for section, field in JustfitConfig.model_fields.items():
        assert f"**`{section}`**" in README, section
        for key in field.annotation.model_fields:
            assert f"| `{key}` |" in README, f"{section}.{key} missing from README"


def test_readme_starts_with_the_two_commands():
    first_block = README.split("```bash", 1)[1].split("```", 1)[0]
    assert "make demo" in first_block and "make test" in first_block
    assert "make test" in (Path(__file__).parents[1] / ".ci" / "run").read_text()
