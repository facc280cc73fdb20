"""Which names are functions, and what kind. The one place that decides `Phi(z)` versus `W (x)`."""
from __future__ import annotations

import unicodedata

# Elementwise functions with known derivatives (numeric.py, printing/to_sympy.py hold their formulas).
ELEMENTWISE = frozenset({"exp", "log", "sin", "cos", "tanh", "sigmoid", "relu", "softplus", "sqrt"})

# Other spellings of the same function.
ALIASES = {"σ": "sigmoid", "Tr": "tr", "trace": "tr", "inv": "inv"}

# Abstract elementwise functions known by default; more are declared by the user.
DEFAULT_ABSTRACT = frozenset({"Phi", "Psi", "phi", "psi", "Φ", "Ψ", "φ", "ψ"})

# Structural functions: name -> number of arguments.
STRUCTURAL = {"tr": 1, "det": 1, "logdet": 1, "inv": 1, "softmax": 1, "logsumexp": 1,
              "norm": 1, "sum": 1, "diag": 1, "vec": 1, "kron": 2}

BUILTIN = ELEMENTWISE | frozenset(STRUCTURAL) | frozenset(ALIASES)

GREEK = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "varepsilon": "ε",
    "zeta": "ζ", "eta": "η", "theta": "θ", "vartheta": "ϑ", "iota": "ι", "kappa": "κ",
    "lambda": "λ", "mu": "μ", "nu": "ν", "xi": "ξ", "pi": "π", "rho": "ρ", "sigma": "σ",
    "tau": "τ", "upsilon": "υ", "phi": "φ", "varphi": "ϕ", "chi": "χ", "psi": "ψ", "omega": "ω",
    "Gamma": "Γ", "Delta": "Δ", "Theta": "Θ", "Lambda": "Λ", "Xi": "Ξ", "Pi": "Π",
    "Sigma": "Σ", "Upsilon": "Υ", "Phi": "Φ", "Psi": "Ψ", "Omega": "Ω",
}
GREEK_NAME = {v: k for k, v in GREEK.items() if not k.startswith("var")}


def canonical_name(raw: str) -> str:
    """LaTeX-style `\\theta` is the Greek letter θ; any other name is kept as written."""
    if raw.startswith("\\"):
        head = raw[1:].split("_", 1)
        if head[0] in GREEK:
            return GREEK[head[0]] + ("_" + head[1] if len(head) > 1 else "")
        return raw[1:]
    return raw


def canonical_function(name: str) -> str:
    return ALIASES.get(name, name)


def is_greek(name: str) -> bool:
    return unicodedata.category(name[0]) in ("Ll", "Lu") and "GREEK" in unicodedata.name(name[0], "") \
        or name.split("_")[0] in GREEK


def is_greek_lower(name: str) -> bool:
    """α, \\alpha and `alpha` are Greek lower-case names: scalars where the expression allows."""
    head = name.split("_")[0].rstrip("0123456789")
    if head in GREEK:
        return head[0].islower()
    return "GREEK SMALL" in unicodedata.name(name[0], "")


def function_names(extra=()) -> frozenset:
    """Every name that is applied rather than multiplied: builtins, default abstract, declared."""
    return BUILTIN | DEFAULT_ABSTRACT | frozenset(extra)


def abstract_names(extra=()) -> frozenset:
    return DEFAULT_ABSTRACT | frozenset(extra)
