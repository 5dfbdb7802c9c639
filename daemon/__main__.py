from pursuit.daemon.cli import main

main()
