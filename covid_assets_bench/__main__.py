from covid_assets_bench.benchmark import main

main()
