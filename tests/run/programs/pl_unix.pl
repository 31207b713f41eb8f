# Perl: IO::Socket::UNIX server and clients in one process, IO::Select,
# and socketpair.
use strict;
use warnings;
use IO::Socket::UNIX;
use IO::Select;
use Socket;
use File::Temp qw(tempdir);

my $dir = tempdir(CLEANUP => 1);
my $path = "$dir/s";
my $srv = IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => $path,
                                Listen => 5) or die "listen: $!";
my @clients = map {
    IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $path)
        or die "connect: $!"
} 1 .. 3;
my @conns = map { scalar $srv->accept } 1 .. 3;
my $i = 0;
print $_ "hello from client ", $i++, "\n" for @clients;
$_->flush for @clients;
my $sel = IO::Select->new(@conns);
my %seen;
while (keys %seen < 3) {
    for my $c ($sel->can_read(1)) {
        my $line = <$c>;
        $seen{$line} = 1;
        print $c "reply: $line";
        $c->flush;
    }
}
print sort keys %seen;
for my $c (@clients) {
    my $l = <$c>;
    print $l;
}
socketpair(my $a, my $b, AF_UNIX, SOCK_STREAM, PF_UNSPEC) or die "socketpair: $!";
syswrite($a, "over the pair\n");
sysread($b, my $buf, 100);
print $buf;
close $_ for @clients, @conns, $a, $b, $srv;
unlink $path;
