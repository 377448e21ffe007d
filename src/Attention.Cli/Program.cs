// attn: the answer book on the command line. All logic lives in AttnApp so tests can run it in-process.
return new Attention.Cli.AttnApp().Run(args, Console.Out, Console.Error);
