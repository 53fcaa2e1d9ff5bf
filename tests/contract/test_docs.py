"""The README's config reference and commands stay true."""

from pathlib import Path

from justfit.config import JustfitConfig

README = (Path(__file__).parents[2] / "README.md").read_text()


def test_every_config_key_is_documented():
    from justfit.config import TOP_LEVEL_KEYS, config_sections

    for key in TOP_LEVEL_KEYS:
        assert f"| `{key}` |" in README, f"top-level key {key} missing from README"
    for section in config_sections():
        assert f"**`{section}`**" in README, section
        for key in JustfitConfig.model_fields[section].annotation.model_fields:
            assert f"| `{key}` |" in README, f"{section}.{key} missing from README"


def test_readme_starts_with_the_two_commands():
    first_block = README.split("```bash", 1)[1].split("```", 1)[0]
    assert "make demo" in first_block and "make test" in first_block
    assert "make test" in (Path(__file__).parents[2] / ".ci" / "run").read_text()
