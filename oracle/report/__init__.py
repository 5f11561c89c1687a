"""Reports for people: governance reviews of queued proposals (`review`) and the backtest's HTML
report (`backtest`). Above the pipeline; nothing in it imports them."""
