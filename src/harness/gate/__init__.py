"""The regression gate: a candidate load run judged against a baseline, with statistics that
catch a real slowdown and a noise floor measured from A/A runs, and the reports a reviewer
reads (pull-request comment, HTML, charts, JUnit)."""
