"""Generated documentation: family pages, the index, the plot, and the check that they are current."""
