from responsd.cli import main

main()
