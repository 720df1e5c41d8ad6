"""Per-language facts the completion logic needs: comment syntax and block stops."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CommentStyle:
    """How to write a comment: `line` prefix, or a `block` (open, close) pair."""

    line: str | None = None
    block: tuple[str, str] | None = None

    def render(self, lines: list[str]) -> str:
        """Comment out `lines` (each becomes one line of the result, which ends with "\\n")."""
        if self.line is not None:
            return "".join(f"{self.line} {line}".rstrip() + "\n" for line in lines)
        assert self.block is not None
        opener, closer = self.block
        # A closer inside the text would end the comment early.
        body = [line.replace(closer, closer[0] + " " + closer[1:]) for line in lines]
        return opener + " " + "\n".join(body) + " " + closer + "\n"


_HASH = CommentStyle(line="#")
_SLASH = CommentStyle(line="//")
_DASH = CommentStyle(line="--")
_SEMI = CommentStyle(line=";")
_PERCENT = CommentStyle(line="%")
_XML = CommentStyle(block=("<!--", "-->"))
_CSS = CommentStyle(block=("/*", "*/"))

_COMMENTS: dict[str, CommentStyle] = {
    **dict.fromkeys(
        [
            "python",
            "ruby",
            "shellscript",
            "sh",
            "bash",
            "zsh",
            "fish",
            "perl",
            "r",
            "yaml",
            "toml",
            "dockerfile",
            "makefile",
            "cmake",
            "powershell",
            "elixir",
            "julia",
            "nim",
            "coffeescript",
            "crystal",
            "gdscript",
            "nix",
            "terraform",
            "hcl",
        ],
        _HASH,
    ),
    **dict.fromkeys(
        [
            "c",
            "cpp",
            "cuda-cpp",
            "objective-c",
            "objective-cpp",
            "java",
            "javascript",
            "javascriptreact",
            "typescript",
            "typescriptreact",
            "go",
            "rust",
            "swift",
            "kotlin",
            "scala",
            "csharp",
            "fsharp",
            "dart",
            "php",
            "zig",
            "groovy",
            "jsonc",
            "solidity",
            "proto",
            "glsl",
            "hlsl",
            "d",
            "v",
            "odin",
        ],
        _SLASH,
    ),
    **dict.fromkeys(["lua", "sql", "haskell", "elm", "ada", "purescript", "vhdl"], _DASH),
    **dict.fromkeys(["clojure", "lisp", "scheme", "racket", "commonlisp", "ini"], _SEMI),
    **dict.fromkeys(["latex", "tex", "erlang", "matlab", "prolog"], _PERCENT),
    **dict.fromkeys(["html", "xml", "markdown", "vue", "svelte", "astro", "xsl"], _XML),
    **dict.fromkeys(["css", "scss", "less"], _CSS),
    "vim": CommentStyle(line='"'),
    "ocaml": CommentStyle(block=("(*", "*)")),
}


# File extensions callers sometimes pass instead of LSP language ids (e.g. the CLI).
_ALIASES: dict[str, str] = {
    "py": "python",
    "pyi": "python",
    "rb": "ruby",
    "sh": "shellscript",
    "bash": "shellscript",
    "js": "javascript",
    "mjs": "javascript",
    "cjs": "javascript",
    "jsx": "javascriptreact",
    "ts": "typescript",
    "tsx": "typescriptreact",
    "rs": "rust",
    "kt": "kotlin",
    "kts": "kotlin",
    "cs": "csharp",
    "cc": "cpp",
    "cxx": "cpp",
    "hpp": "cpp",
    "h": "c",
    "hs": "haskell",
    "ex": "elixir",
    "exs": "elixir",
    "md": "markdown",
    "yml": "yaml",
    "pl": "perl",
    "jl": "julia",
    "el": "commonlisp",
    "clj": "clojure",
    "txt": "plaintext",
}


def normalize_language(language_id: str) -> str:
    """The LSP language id for `language_id`, which may also be a file extension."""
    lowered = language_id.lower().lstrip(".")
    return _ALIASES.get(lowered, lowered)


def comment_style(language_id: str) -> CommentStyle | None:
    """The comment syntax of an LSP language id; None when unknown (e.g. plaintext)."""
    return _COMMENTS.get(normalize_language(language_id))


# Lines that start a new top-level unit: in multi-line mode the model should stop there
# rather than write the next function. At most 3 per language: with "\n\n\n" that makes 4,
# the most OpenAI-compatible servers accept.
_BLOCK_STOPS: dict[str, tuple[str, ...]] = {
    "python": ("\ndef ", "\nclass ", "\nif __name__"),
    "javascript": ("\nfunction ", "\nexport ", "\nclass "),
    "javascriptreact": ("\nfunction ", "\nexport ", "\nclass "),
    "typescript": ("\nfunction ", "\nexport ", "\nclass "),
    "typescriptreact": ("\nfunction ", "\nexport ", "\nclass "),
    "go": ("\nfunc ", "\ntype "),
    "rust": ("\nfn ", "\npub fn ", "\nimpl "),
    "ruby": ("\ndef ", "\nclass ", "\nmodule "),
    "java": ("\npublic class ", "\nclass "),
    "kotlin": ("\nfun ", "\nclass "),
    "lua": ("\nfunction ", "\nlocal function "),
}


def block_stops(language_id: str) -> tuple[str, ...]:
    """Stop sequences that end a multi-line completion at the next top-level unit."""
    return _BLOCK_STOPS.get(normalize_language(language_id), ())
