"""Reports for people: governance reviews of queued proposals (`review`) and of risk arrays held
back by their scenario set's bounds (`arrays`), the backtest's HTML report (`backtest`), the
scorecard (`scorecard`) and the portfolio-margin backtest's report (`portfolio`). Above the
pipeline; nothing in it imports them."""
