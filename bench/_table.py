# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one table every benchmark prints: Markdown, numbers right-aligned, ready for docs/benchmarks.md."""


def format_table(headers, rows):
    """A Markdown table with aligned columns; a column whose cells are all numbers (1,234 / 0.89x / 5%)
    is right-aligned."""
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [max([len(title)] + [len(row[index]) for row in cells]) for index, title in enumerate(headers)]
    numeric = [bool(cells) and all(_number(row[index]) for row in cells) for index in range(len(headers))]

    def line(values):
        return "| " + " | ".join(value.rjust(widths[index]) if numeric[index] else value.ljust(widths[index])
                                 for index, value in enumerate(values)) + " |"
    separator = "|" + "|".join("-" * (width + 1) + (":" if right else "-") for width, right in zip(widths, numeric)) + "|"
    return "\n".join([line(headers), separator] + [line(row) for row in cells])


def _number(text):
    try:
        float(text.replace(",", "").rstrip("x%"))
    except ValueError:
        return False
    return True
