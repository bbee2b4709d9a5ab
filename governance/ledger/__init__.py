"""Finance: the ROI / P&L ledger, business cases and the portfolio."""
