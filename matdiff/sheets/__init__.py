"""Step-by-step solution sheets, written the way course sheets derive a gradient.

    derivation.py  a Problem -> the derivation's steps (auxiliary variables, differentials,
                   back-substitution, trace cycling, read off the gradient), from the rules' records
    rules.py       the sheets' notation: diag(Phi'(z)), distributing, tidying
    identities.py  each rule's identity, as the sheet cites it
    document.py    the steps -> a LaTeX document (build_sheet, solution_sheet)
    pdf.py         pdflatex, where it is installed

Wording of the sheet: document.py; which steps it shows: derivation.py.
"""
