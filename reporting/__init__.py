"""Reporting shared by the stages that report: LaTeX macros and text, figures."""
