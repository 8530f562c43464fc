from netinspect.cli.main import main

main()
