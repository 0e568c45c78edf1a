"""Answer: read the best passages, judge whether they answer, compose the cited answer (`service.ReportQA`)."""
