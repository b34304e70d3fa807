"""covid_assets: the daily US COVID-19 ETL as Dagster software-defined assets."""
