from exbert.cli import main

main()
