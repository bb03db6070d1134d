"""Generates the provisioned Grafana dashboards (grafana/dashboards/*.json) from Python.

Shared pieces (datasource variables, the service_name variable, links, panel
defaults) live in one place, so changing one of them means editing one function
and running `python -m grafana.dashgen`, not editing every JSON file by hand.
"""
