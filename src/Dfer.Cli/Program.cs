using Dfer.Cli;

// Progress lines are for a person watching; logs and pipelines get only results and diagnostics.
return DferCli.Run(args, Console.Out, Console.Error, showProgress: !Console.IsErrorRedirected);
