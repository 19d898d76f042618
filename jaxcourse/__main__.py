from jaxcourse.cli import main

raise SystemExit(main())
