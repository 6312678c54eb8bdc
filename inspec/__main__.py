from inspec.cli import main

main()
