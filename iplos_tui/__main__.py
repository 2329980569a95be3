from iplos_tui.cli import main

raise SystemExit(main())
