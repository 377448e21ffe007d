Console.WriteLine("attn: not yet wired");
return 0;
